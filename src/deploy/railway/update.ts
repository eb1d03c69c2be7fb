// The steps only an update has: `diffing` (the migration from production's
// schema to the preview's, refused while a destructive or ambiguous change
// is not confirmed), `rehearsing` (that migration on a copy of production,
// rolled back) and `migrating` (the same migration on production, in one
// transaction). Each can run again after a kill: the plan is saved with the
// preview's schema it was made from, and `migrating` plans again against
// production as it is now, so what is already there is not applied twice.
import type { Sql } from "postgres";
import { applyMigration, endSessions } from "../schema/apply.ts";
import { readModel } from "../schema/catalog.ts";
import { readKeywords } from "../schema/names.ts";
import { classCounts, planMigration, type MigrationPlan } from "../schema/plan.ts";
import { RehearsalFailed, rehearse } from "../schema/rehearse.ts";
import { StepError, type StepContext } from "../runner.ts";
import type { DeploySource } from "../source.ts";
import type { MigrationView } from "../types.ts";
import { publicDatabaseUrl, withProduction } from "./database.ts";
import type { RailwayApi } from "./operations.ts";

export interface UpdateStepsOptions {
  api: RailwayApi;
  source: DeploySource;
  /** Tables with more rows are rehearsed on a sample of this many (PREVIEWD_DEPLOY_REHEARSAL_ROWS). */
  rehearsalMaxRows: number;
}

const REHEARSAL_APP = "previewd-rehearsal";
/** The preview's schema model is kept in the deployment record: a schema past this (as JSON) is not planned. */
const MAX_MODEL_BYTES = 8 * 1024 * 1024;
const MIGRATE_APP = "previewd-migrate";

export class UpdateSteps {
  constructor(private readonly o: UpdateStepsOptions) {}

  private async plan(sql: Sql, ctx: StepContext, preview = ctx.deployment.plan?.preview): Promise<MigrationPlan> {
    const target = preview ?? (await this.o.source.previewModel(ctx.source.id));
    const [keywords, production] = await Promise.all([readKeywords(sql), sql.begin((tx) => readModel(tx as never, "public"))]);
    return planMigration(production, target, { keywords, confirm: ctx.deployment.request.confirm });
  }

  private url(ctx: StepContext): Promise<string> {
    return publicDatabaseUrl(this.o.api, ctx.deployment.providerIds, ctx.signal);
  }

  async diffing(ctx: StepContext): Promise<string> {
    if (!(await this.o.source.hasSchema(ctx.source.id))) {
      await ctx.save({ migration: { statements: [], counts: classCounts([]), warnings: [] }, plan: { statements: [] } });
      return "the preview's schema is gone (dropped by an earlier cleanup): production's schema is left as it is";
    }
    const preview = await this.o.source.previewModel(ctx.source.id);
    const size = JSON.stringify(preview).length;
    if (size > MAX_MODEL_BYTES) throw new Error(`the preview's schema is too large to plan (${Math.ceil(size / 1024 / 1024)} MiB of definitions and migration-history rows, at most ${MAX_MODEL_BYTES / 1024 / 1024} MiB)`);
    const plan = await withProduction(await this.url(ctx), "previewd-diff", (sql) => this.plan(sql, ctx, preview));
    const counts = classCounts(plan.statements);
    const migration: MigrationView = {
      statements: plan.statements.map((s) => ({ sql: s.sql, class: s.class, summary: s.summary, ...(s.confirmedBy ? { confirmedBy: s.confirmedBy } : {}) })),
      counts,
      warnings: plan.warnings,
      ...(plan.unusedConfirmations.length ? { unusedConfirmations: plan.unusedConfirmations } : {}),
    };
    await ctx.save({ migration, plan: { preview, statements: plan.statements } });
    if (plan.questions.length || plan.unsupported.length) {
      const asks = plan.questions.map((q) => `${q.change} (confirm with ${q.options.map((o) => JSON.stringify(o)).join(" or ")})`);
      throw new StepError(
        `the schema change is not carried without ${plan.questions.length ? "confirmation" : "a change of your own"}: ${[...asks, ...plan.unsupported].join("; ")}. Nothing was changed.`,
        { confirm: plan.questions, ...(plan.unsupported.length ? { unsupported: plan.unsupported } : {}) },
      );
    }
    if (plan.statements.length === 0) return "production's schema already equals the preview's: nothing to migrate";
    return `${plan.statements.length} statements: ${counts.additive} additive, ${counts.rewriting} rewriting, ${counts.destructive} destructive (confirmed)`;
  }

  async rehearsing(ctx: StepContext): Promise<string> {
    const statements = ctx.deployment.plan?.statements ?? [];
    if (statements.length === 0) return "nothing to rehearse";
    const scratch = `previewd_rehearsal_${ctx.deployment.id.replace(/[^a-z0-9_]/g, "_")}`;
    const report = await withProduction(await this.url(ctx), REHEARSAL_APP, async (sql) => {
      await endSessions(sql, REHEARSAL_APP);
      const [keywords, production] = await Promise.all([readKeywords(sql), sql.begin((tx) => readModel(tx as never, "public"))]);
      try {
        return await rehearse(sql, { scratch, production, statements, keywords, maxRows: this.o.rehearsalMaxRows });
      } catch (e) {
        if (e instanceof RehearsalFailed) throw new StepError(`${e.message}. Production is untouched.`, { statement: e.statement.sql, message: e.pgMessage });
        throw e;
      }
    });
    await ctx.save({ migration: { ...ctx.deployment.migration!, rehearsal: report } });
    const rows = report.statements.reduce((n, s) => n + (s.rows ?? 0), 0);
    const copy = report.sampled.length ? `a sample of production (${report.sampled.join(", ")} cut to ${this.o.rehearsalMaxRows} rows), ${report.copiedRows} rows` : `a copy of production, ${report.copiedRows} rows`;
    return `rehearsed on ${copy} (copied in ${(report.copyMs / 1000).toFixed(1)} s): ${statements.length} statements in ${(report.ms / 1000).toFixed(2)} s, ${rows} rows affected; rolled back`;
  }

  async migrating(ctx: StepContext): Promise<string> {
    const planned = ctx.deployment.plan?.statements ?? [];
    if (planned.length === 0) return "nothing to apply";
    const { detail, n, ms, ran } = await withProduction(await this.url(ctx), MIGRATE_APP, async (sql) => {
      await endSessions(sql, MIGRATE_APP); // a run killed mid-transaction: rolled back before we look
      const now = await this.plan(sql, ctx);
      if (now.statements.length === 0) {
        // Applied by an earlier run of this step (killed before it said so): what it ran is in the plan already.
        const earlier = ctx.deployment.plan?.applied;
        if (earlier?.length) return { detail: `applied ${earlier.length} statements in one transaction (an earlier run of this step committed them)`, n: earlier.length, ms: 0, ran: earlier };
        return { detail: "production already has this change (the app migrating itself at start, or another deploy, applied it)", n: 0, ms: 0, ran: [] };
      }
      const known = new Set(planned.map((s) => s.sql));
      const unplanned = now.statements.filter((s) => !known.has(s.sql));
      if (unplanned.length || now.questions.length) {
        throw new Error(`production's schema changed since the rehearsal (${unplanned.map((s) => s.summary).slice(0, 3).join("; ") || "new questions"}); nothing was applied: deploy again to plan and rehearse anew`);
      }
      // Saved before the commit can happen: a kill after it still knows what this step ran.
      await ctx.save({ plan: { ...ctx.deployment.plan!, applied: now.statements } });
      const { ms } = await applyMigration(sql, now.statements);
      const skipped = planned.length - now.statements.length;
      return { detail: `applied ${now.statements.length} statements in one transaction (${(ms / 1000).toFixed(2)} s)${skipped ? `; ${skipped} production already had` : ""}`, n: now.statements.length, ms, ran: now.statements };
    });
    if (n === 0) await ctx.save({ plan: { ...ctx.deployment.plan!, applied: ran } });
    await ctx.save({ migration: { ...ctx.deployment.migration!, applied: { statements: n, ms, detail } } });
    return detail;
  }
}
