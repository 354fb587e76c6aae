// One error type for everything the Caffe importer refuses: an InputError, so the CLI prints its
// message as one line and exits with code 2; nothing is written.
import { InputError } from '../imported';

export class CaffeImportError extends InputError {}
