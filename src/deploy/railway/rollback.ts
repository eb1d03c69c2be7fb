// A rollback's own steps: `rolling_back` asks Railway to run the code of the
// deployment that served before the update (deploymentRollback), and
// `reverting_schema` undoes the update's schema change only when it was
// additive-only and nothing uses what it added (no row in an added table,
// no value but NULL or the default in an added column); otherwise it stays,
// and the step says why. Code goes back first: the old code never reads
// what the update added, so the additions can go after it.
import type { Sql } from "postgres";
import { ident } from "../../db/ident.ts";
import { endSessions } from "../schema/apply.ts";
import { classCounts, revertible } from "../schema/plan.ts";
import { poll, type StepContext } from "../runner.ts";
import { publicDatabaseUrl, withProduction } from "./database.ts";
import type { RailwayApi } from "./operations.ts";
import { deploymentSince } from "./since.ts";

const REVERT_APP = "previewd-revert";

export class RollbackSteps {
  constructor(private readonly o: { api: RailwayApi; pollMs: number }) {}

  async rollingBack(ctx: StepContext): Promise<string> {
    const d = ctx.deployment;
    const target = d.request.rollbackTo!;
    if (!d.providerIds.deploymentId) {
      const serviceId = d.providerIds.serviceId!;
      // Killed after asking: Railway's new deployment is already there.
      let made = await deploymentSince(this.o.api, ctx, serviceId);
      if (!made) {
        await this.o.api.rollbackTo(target, ctx.signal);
        made = await poll("Railway's rollback deployment", () => deploymentSince(this.o.api, ctx, serviceId), { everyMs: this.o.pollMs, timeoutMs: 60_000, signal: ctx.signal });
      }
      await ctx.saveIds({ deploymentId: made.id });
    }
    return `Railway deployment ${d.providerIds.deploymentId} runs the code of ${target} again`;
  }

  async revertingSchema(ctx: StepContext): Promise<string> {
    const statements = ctx.deployment.plan?.statements ?? [];
    const keep = async (reason: string) => {
      await ctx.save({ migration: { statements: [], counts: classCounts([]), warnings: [], schema: { kept: true, reason } } });
      return `schema change kept: ${reason}`;
    };
    if (statements.length === 0) return keep("the update changed no schema");
    if (!revertible(statements)) {
      const n = classCounts(statements);
      return keep(`it is not additive-only (${n.additive} additive, ${n.rewriting} rewriting, ${n.destructive} destructive statements${statements.some((s) => /ADD VALUE/.test(s.sql)) ? "; an enum value cannot be taken back" : ""})`);
    }
    const url = await publicDatabaseUrl(this.o.api, ctx.deployment.providerIds, ctx.signal);
    const outcome = await withProduction(url, REVERT_APP, async (sql) => {
      await endSessions(sql, REVERT_APP);
      return sql.begin(async (tx) => {
        await tx.unsafe("SET LOCAL search_path = public");
        await tx.unsafe("SET LOCAL lock_timeout = '15s'");
        // Writes wait while we look and undo: what is checked unused stays unused until the commit.
        const tables = [...new Set(statements.map((s) => s.table).filter((t): t is string => !!t))];
        for (const t of tables) {
          const [r] = await tx.unsafe("SELECT to_regclass($1) IS NOT NULL AS present", [ident(t) as never]);
          if (r!.present) await tx.unsafe(`LOCK TABLE ${ident(t)} IN SHARE ROW EXCLUSIVE MODE`);
        }
        for (const s of statements) if (await used(tx as never, s.usedCheck!)) return { kept: true, reason: `"${s.summary}" holds data now` };
        for (const s of [...statements].reverse()) if (s.revert) await tx.unsafe(s.revert);
        return { kept: false, reason: `nothing used it: ${statements.map((s) => s.summary).join("; ")} undone` };
      });
    });
    if (outcome.kept) return keep(outcome.reason);
    await ctx.save({ migration: { statements: [], counts: classCounts([]), warnings: [], schema: outcome } });
    return `schema change reverted: ${outcome.reason}`;
  }
}

/** Runs a used-check; an object already gone (an earlier run reverted it) counts as unused. */
async function used(sql: Sql, check: string): Promise<boolean> {
  await sql.unsafe("SAVEPOINT used_check");
  try {
    const [row] = await sql.unsafe(check);
    await sql.unsafe("RELEASE SAVEPOINT used_check");
    return !!row?.used;
  } catch (e) {
    await sql.unsafe("ROLLBACK TO SAVEPOINT used_check");
    if (["42P01", "42703"].includes((e as { code?: string }).code ?? "")) return false;
    throw e;
  }
}
