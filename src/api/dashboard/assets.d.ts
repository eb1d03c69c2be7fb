// The dashboard's client files are imported by ../dashboard.ts as text (Bun
// inlines them, in `bun test` and in `bun build --compile` alike); they are
// type-checked on their own with the DOM library (./tsconfig.json).
declare module "./dashboard/*" {
  const text: string;
  export default text;
}
