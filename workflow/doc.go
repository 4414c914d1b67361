// Package workflow is the generic engine of k0rdent-deploy: the phase
// contract, the validated dependency graph, the scheduler that runs it with
// a durable record of every transition, and the pure planner with its
// renderers. It knows nothing of k0rdent, YAML or files.
//
// The full specification (capabilities, states, failure, resume and
// selection rules) is being written; see the type documentation.
package workflow
