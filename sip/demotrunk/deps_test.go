package demotrunk

import (
	"os/exec"
	"strings"
	"testing"
)

// The demo trunk lives under sip/ but is a peer of the gateway, not part of
// it: it must not import hubline's sip or media packages (sip and media
// never import each other), nor anything above them.
func TestDeps(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/hubline/hubline/"
	for _, dep := range strings.Fields(string(out)) {
		rel, ok := strings.CutPrefix(dep, mod)
		if !ok || rel == "sip/demotrunk" {
			continue
		}
		if !strings.HasPrefix(rel, "internal/") {
			t.Errorf("demotrunk depends on %s; only %sinternal/... is allowed", dep, mod)
		}
	}
}
