// @previewd/sdk: the control API client. The React hook is in "@previewd/sdk/react"
// so apps without React never load it.
export { createClient, createPreviewWithToken, type PreviewdClient } from "./client.js";
export type { DeployFollowOptions } from "./deploy.js";
export { PreviewdError, isPreviewdError } from "./errors.js";
export type { ClientOptions, FetchLike } from "./http.js";
export { parseSse, type SseMessage } from "./sse.js";
export type * from "./types.js";
export type { PreviewWatch, WatchOptions } from "./watch.js";
