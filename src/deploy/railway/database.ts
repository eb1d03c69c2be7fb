// The deployed Postgres service as the daemon reaches it: through Railway's
// public TCP proxy, at the URL Railway renders in DATABASE_PUBLIC_URL.
import postgres, { type Sql } from "postgres";
import type { ProviderIds } from "../types.ts";
import type { RailwayApi } from "./operations.ts";

export async function publicDatabaseUrl(api: RailwayApi, ids: ProviderIds, signal?: AbortSignal): Promise<string> {
  const vars = await api.variables({ projectId: ids.projectId!, environmentId: ids.environmentId!, serviceId: ids.databaseServiceId! }, signal);
  const url = vars.DATABASE_PUBLIC_URL;
  if (!url || /@:|:\/|:$/.test(url.replace(/^postgres(ql)?:\/\//, ""))) throw new Error("Railway has not published DATABASE_PUBLIC_URL for the Postgres service yet");
  return url;
}

/** One connection, named so a resumed run can end what an earlier (killed) run left behind. */
export function connectProduction(url: string, applicationName: string): Sql {
  return postgres(url, { max: 1, ssl: "prefer", onnotice: () => {}, connect_timeout: 10, connection: { application_name: applicationName } });
}

export async function withProduction<T>(url: string, applicationName: string, fn: (sql: Sql) => Promise<T>): Promise<T> {
  const sql = connectProduction(url, applicationName);
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 }).catch(() => {});
  }
}
