// Node.js lines: what the image offers (lines.ts) and which one an app runs on (choose.ts).
export { chooseNode, type NodeChoice } from "./choose.ts";
export { defaultLine, ltsLines, nodeBinDir, parseNodeLines, runtimeBinDir, type NodeLine } from "./lines.ts";
