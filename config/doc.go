// Package config reads the deployment spec, k0rdent.yaml: its schema,
// defaults and validation with field paths and lines.
package config
