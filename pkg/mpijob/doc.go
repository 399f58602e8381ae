// Package mpijob is what an MPIJob's state means, written once for every
// part of the platform: the controller's metrics, the CLI, the console's
// back end and (through the contract fixtures in testdata/contract, which
// the SDK's and the console front end's tests load too) the Python SDK and
// the TypeScript console.
//
// Its sub-packages hold the rest of the shared client code: jobspec (the
// typed job a user describes, validated and built in one place), printers
// (tables and describe text), logs (launcher and worker log streams),
// queue (Kueue's view of a job) and quota (the admission webhook's quota
// verdict as structured causes).
package mpijob
