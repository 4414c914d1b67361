//go:build tools

// Package tools pins etcd in this wrapper module (the classic tools.go).
package tools

import _ "go.etcd.io/etcd/server/v3"
