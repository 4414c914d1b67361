// Command genruns writes a state directory with many finished runs, for the
// start-up benchmark (bench/startup.sh): `genruns DIR N` creates N runs of
// a dozen records each through package state (the real format), the newest
// last. Write to tmpfs and copy to the disk under test: fsync is not what
// is measured here.
package main
