/** The version of `@lathe/server` (kept equal to package.json by test/LatheRouter.test.ts). */
export const version = "0.1.0"
