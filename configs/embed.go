// Package configs holds hubline's example configurations. local.yaml is
// embedded in the gateway binary as its default when no -config is given.
package configs

import _ "embed"

// Local is configs/local.yaml: development mode, the built-in demo trunk, a
// demo rep (demo / demo), everything on loopback.
//
//go:embed local.yaml
var Local []byte
