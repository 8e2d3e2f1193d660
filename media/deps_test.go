package media

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDependencies proves the package's contract (media.go): of hubline,
// media imports internal/udpio only (its tests also internal/benchcpu and internal/audio),
// never sip or cti.
func TestDependencies(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files (%v)", err)
	}
	for _, f := range files {
		allowed := map[string]bool{"github.com/hubline/hubline/internal/udpio": true}
		if strings.HasSuffix(f, "_test.go") {
			allowed["github.com/hubline/hubline/internal/benchcpu"] = true
			allowed["github.com/hubline/hubline/internal/audio"] = true
		}
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
