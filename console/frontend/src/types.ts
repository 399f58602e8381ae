// Types of the console's REST API (console/backend); see
// docs/reference/console-api.md. tools/tsgen generates them from the Go
// types into types.gen.ts; change the Go types and run `make generate`.
export type * from './types.gen';
