// One error type for everything the Caffe importer refuses. The CLI prints its message as one
// line and exits with code 2; nothing is written.

export class CaffeImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaffeImportError';
  }
}
