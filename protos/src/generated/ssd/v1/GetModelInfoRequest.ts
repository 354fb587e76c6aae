// Original file: protos/ssd/v1/ssd.proto


export interface GetModelInfoRequest {
}

export interface GetModelInfoRequest__Output {
}
