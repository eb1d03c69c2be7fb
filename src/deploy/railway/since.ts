// Which Railway deployment of a service a step of ours made, when the id was
// not recorded (a timed-out upload, a daemon killed between the mutation and
// saving its answer): the newest one, if it is newer than the one that
// served before this previewd deployment started.
import type { StepContext } from "../runner.ts";
import type { RailwayApi, RailwayDeployment } from "./operations.ts";

export async function deploymentSince(api: RailwayApi, ctx: StepContext, serviceId: string): Promise<RailwayDeployment | undefined> {
  const ids = ctx.deployment.providerIds;
  const list = await api.deployments({ projectId: ids.projectId!, environmentId: ids.environmentId!, serviceId }, ctx.signal);
  const newest = list.sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
  const previous = ctx.deployment.request.previousProviderDeploymentId;
  if (!newest || !previous) return newest;
  if (newest.id === previous) return undefined;
  const before = list.find((x) => x.id === previous) ?? (await api.deployment(previous, ctx.signal).catch(() => undefined));
  return !before || newest.createdAt > before.createdAt ? newest : undefined;
}
