package deploy

// RunConfigName is the name of the run file that keeps a run's canonical
// config beside its logs (state.Backend.WriteRunFile): what `state push`
// and `state pull` copy besides the journals.
const RunConfigName = runConfigName
