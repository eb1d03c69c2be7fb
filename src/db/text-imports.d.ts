// Bun inlines `import x from "./file.sql" with { type: "text" }` as a string,
// in `bun test` and in `bun build --compile` alike.
declare module "*.sql" {
  const text: string;
  export default text;
}
