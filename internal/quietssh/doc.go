// Package quietssh keeps k0sproject/rig's ssh probing off the start-up of
// the commands that never use SSH.
//
// rig/v2/sshconfig (linked in through k0sctl, which the k0s phase uses as
// a library) fills its table of known ssh_config keys at package
// initialisation, and to do so runs `ssh -V` and eight `ssh -Q <list>`:
// nine child processes, 60–70 ms and more under load, before main runs,
// in every process of the binary, even `k0rdent version`. There is no
// switch to turn that off and no way to link the package only where it is
// needed in one binary, and forking rig is not an option.
//
// What decides it is the PATH lookup of "ssh": when it fails, sshconfig
// takes its built-in defaults (OpenSSH 9.4's) and runs nothing. Go
// initialises packages in import-path order among those whose imports are
// ready (the language spec, since Go 1.21), so this package, which imports
// only the standard library and sorts before github.com/k0sproject/...,
// is initialised before sshconfig: for a command that never opens an SSH
// connection (see quiet) it empties PATH, and package restore, which
// imports sshconfig and so is initialised right after it, puts PATH back
// before anything else looks at it. Every other command (run, reset,
// status --check, and anything unknown) is left alone and gets exactly
// what it got before. main imports restore (which imports this package).
package quietssh
