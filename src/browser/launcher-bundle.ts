// /__previewd/launcher.js: the launcher's script with the real
// @webcontainer/api, bundled when this file is transpiled (see
// launcher-client/bundle-macro.ts). Imported lazily by launcher.ts so only a
// daemon with PREVIEWD_BROWSER_RUNTIME=webcontainer pays for the bundling.
import { launcherBundle } from "./launcher-client/bundle-macro.ts" with { type: "macro" };

export const LAUNCHER_JS: string = launcherBundle();
