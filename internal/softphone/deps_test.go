package softphone

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDependencies proves the package's contract (doc.go): the softphone,
// its fake gateway and its command import nothing of hubline but
// internal/audio and each other, so they test the gateway from the outside.
func TestDependencies(t *testing.T) {
	allowed := map[string]bool{
		"github.com/hubline/hubline/internal/audio":                   true,
		"github.com/hubline/hubline/internal/softphone":               true,
		"github.com/hubline/hubline/internal/softphone/softphonetest": true,
	}
	for _, dir := range []string{".", "softphonetest", "../../cmd/softphone"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		for _, f := range files {
			ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range ast.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				if strings.HasPrefix(path, "github.com/hubline/hubline") && !allowed[path] {
					t.Errorf("%s imports %s", f, path)
				}
			}
		}
	}
}
