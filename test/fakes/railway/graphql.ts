// The GraphQL endpoint's engine: graphql-js over schema.graphql, so parsing,
// validation, variable coercion and the error shapes are the reference
// implementation's, not imitations. Each request is parsed and validated
// first so the server knows which root fields (operations) it touches
// before anything runs: faults and the call log are keyed by them.
import {
  buildSchema,
  execute,
  GraphQLError,
  Kind,
  parse,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from "graphql";
import { readFileSync } from "node:fs";
import { join } from "node:path";

let cached: GraphQLSchema | undefined;

export function schema(): GraphQLSchema {
  cached ??= buildSchema(readFileSync(join(import.meta.dir, "schema.graphql"), "utf8"));
  return cached;
}

export interface GraphQLRequest {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
}

/** What the server needs before running a request: its root fields, or the errors that stop it. */
export type Prepared =
  | { ok: true; document: DocumentNode; rootFields: string[]; variables: Record<string, unknown> | undefined; operationName: string | undefined }
  | { ok: false; result: ExecutionResult };

export function prepare(body: GraphQLRequest): Prepared {
  const fail = (message: string): Prepared => ({ ok: false, result: { errors: [new GraphQLError(message)] } });
  if (typeof body.query !== "string" || body.query.trim() === "") return fail("Must provide query string.");
  if (body.variables != null && (typeof body.variables !== "object" || Array.isArray(body.variables))) return fail("Variables must be an object.");
  const operationName = typeof body.operationName === "string" && body.operationName ? body.operationName : undefined;
  let document: DocumentNode;
  try {
    document = parse(body.query);
  } catch (e) {
    if (e instanceof GraphQLError) return { ok: false, result: { errors: [e] } };
    throw e;
  }
  const errors = validate(schema(), document);
  if (errors.length > 0) return { ok: false, result: { errors } };
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const op = operationName ? operations.find((o) => o.name?.value === operationName) : operations.length === 1 ? operations[0] : undefined;
  // Left to execute(), which words these errors the standard way.
  const rootFields = op ? fieldNames(document, op.selectionSet, new Set()) : [];
  return { ok: true, document, rootFields, variables: (body.variables as Record<string, unknown> | null) ?? undefined, operationName };
}

/** Root field names (not aliases) of a selection set, through fragments; introspection fields skipped. */
function fieldNames(doc: DocumentNode, set: SelectionSetNode, seen: Set<string>): string[] {
  const out: string[] = [];
  for (const sel of set.selections) {
    if (sel.kind === Kind.FIELD) {
      if (!sel.name.value.startsWith("__")) out.push(sel.name.value);
    } else if (sel.kind === Kind.INLINE_FRAGMENT) out.push(...fieldNames(doc, sel.selectionSet, seen));
    else if (sel.kind === Kind.FRAGMENT_SPREAD && !seen.has(sel.name.value)) {
      seen.add(sel.name.value);
      const frag = doc.definitions.find((d) => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === sel.name.value);
      if (frag && frag.kind === Kind.FRAGMENT_DEFINITION) out.push(...fieldNames(doc, frag.selectionSet, seen));
    }
  }
  return out;
}

export async function run(p: Extract<Prepared, { ok: true }>, rootValue: unknown, contextValue: unknown): Promise<ExecutionResult> {
  return await execute({
    schema: schema(),
    document: p.document,
    rootValue,
    contextValue,
    variableValues: p.variables,
    operationName: p.operationName,
  });
}

/** The JSON body of a result: graphql-js's own error serialisation, and data:null when nothing resolved. */
export function body(result: ExecutionResult): { data: unknown; errors?: unknown[] } {
  const out: { data: unknown; errors?: unknown[] } = { data: result.data ?? null };
  if (result.errors?.length) out.errors = result.errors.map((e) => (e instanceof GraphQLError ? e.toJSON() : { message: String(e) }));
  return out;
}
