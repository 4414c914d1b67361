//go:build tools

// Package tools pins kube-apiserver in this wrapper module (the classic tools.go).
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
