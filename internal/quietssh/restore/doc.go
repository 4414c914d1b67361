// Package restore puts PATH back after rig's sshconfig has initialised;
// see package quietssh. It imports sshconfig only to be initialised after
// it.
package restore
