// `railway up`'s source upload (not part of the GraphQL schema): POST
// /project/{projectId}/environment/{environmentId}/up?serviceId=..., body a
// gzip tarball. Answers as railwayapp/cli src/controllers/upload.rs expects:
// 200 UpResponse {deploymentId, url, logsUrl, deploymentDomain} (camelCase),
// 400 {message} (UpErrorResponse) for a bad request, 413 past the size cap.
// To a service that already has deployments it is a new deployment of that
// service (what `railway up` does on every run against a linked service):
// the older one serves until the new one is SUCCESS, then is REMOVED.
import { gunzipSync } from "node:zlib";
import { extract } from "tar-stream";
import { deployUpload, storeUpload } from "./builder.ts";
import type { DeployContext } from "./deploy.ts";

const UP_PATH = /^\/project\/([^/]+)\/environment\/([^/]+)\/up\/?$/;

export const isUploadPath = (path: string): boolean => UP_PATH.test(path);

/** Checks that the body is a readable gzip tarball with at least one entry; the reason when it is not. */
export async function tarballProblem(body: Uint8Array): Promise<string | undefined> {
  let tar: Buffer;
  try {
    tar = gunzipSync(body);
  } catch {
    return "Invalid tarball: the body is not gzip data";
  }
  return new Promise((resolve) => {
    const x = extract();
    let entries = 0;
    x.on("entry", (_h, stream, next) => {
      entries++;
      stream.on("end", next);
      stream.resume();
    });
    x.on("finish", () => resolve(entries > 0 ? undefined : "Invalid tarball: it has no files"));
    x.on("error", (e: Error) => resolve(`Invalid tarball: ${e.message}`));
    x.end(tar);
  });
}

export async function handleUpload(ctx: DeployContext, req: Request, url: URL, opts: { maxBytes: number; origin: string }): Promise<Response> {
  const [, projectId, environmentId] = UP_PATH.exec(url.pathname)!;
  const message = (m: string, status = 400) => Response.json({ message: m }, { status });
  const declared = Number(req.headers.get("content-length") ?? 0);
  if (declared > opts.maxBytes) return new Response(`Request body larger than ${opts.maxBytes} bytes`, { status: 413 });
  const project = ctx.state.projects.get(projectId!);
  if (!project) return message("Project not found", 404);
  const env = project.environments.find((e) => e.id === environmentId);
  if (!env) return message("Environment not found", 404);
  const serviceId = url.searchParams.get("serviceId");
  // Real Railway creates a service when none is given; previewd always names one, so the fake requires it.
  if (!serviceId) return message("serviceId is required by fake Railway");
  const service = project.services.find((s) => s.id === serviceId);
  if (!service) return message("Service not found", 404);
  const body = new Uint8Array(await req.arrayBuffer());
  if (body.byteLength > opts.maxBytes) return new Response(`Request body larger than ${opts.maxBytes} bytes`, { status: 413 });
  const problem = await tarballProblem(body);
  if (problem) return message(problem);
  const d = deployUpload(ctx, project, env, service, storeUpload(ctx, body));
  return Response.json({
    deploymentId: d.id,
    url: `${opts.origin}/project/${project.id}/service/${service.id}?environmentId=${env.id}`,
    // The CLI recovers the service id from `.../service/<id>?...` in logsUrl.
    logsUrl: `${opts.origin}/project/${project.id}/service/${service.id}?id=${d.id}&environmentId=${env.id}`,
    deploymentDomain: service.domains.find((x) => x.environmentId === env.id)?.domain ?? "",
  });
}
