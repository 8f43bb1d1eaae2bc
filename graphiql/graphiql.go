// Package graphiql serves GraphiQL at / from files embedded in the binary,
// so that it works on a machine with no internet. The files are built from
// the npm packages pinned in src/ (scripts/graphiql.sh, which make build,
// run and test call) and not committed: a binary built without them serves
// a page saying how to build them.
package graphiql

import (
	"embed"
	"html/template"
	"io"
	"io/fs"
	"net/http"
)

//go:embed all:assets
var assets embed.FS

// Built reports whether the binary holds GraphiQL's files.
func Built() bool {
	_, err := fs.Stat(assets, "assets/graphiql.js")
	return err == nil
}

const notBuilt = `<!doctype html><meta charset="utf-8"><title>GraphiQL not built</title>
<p>This binary was built without GraphiQL's files. Build them with <code>make graphiql</code>
(Node and npm needed), then build the binary again; <code>make run</code> and <code>make build</code> do both.
The GraphQL endpoint works meanwhile.`

var page = template.Must(template.New("graphiql").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<link rel="stylesheet" href="/graphiql/graphiql.css">
<style>body { margin: 0; } #graphiql { height: 100vh; }</style>
</head>
<body>
<div id="graphiql"></div>
<script id="switchboard-config" type="application/json">{{.Config}}</script>
<script src="/graphiql/graphiql.js"></script>
</body>
</html>
`))

// csp keeps the page to its own files: scripts and styles from here (the
// editors set inline styles), fonts and images inlined in the stylesheet,
// requests to this server over HTTP and websockets.
const csp = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; font-src data:; img-src 'self' data:; " +
	"connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Register serves the page at / and its files under /graphiql/; endpoint is
// the GraphQL path the page talks to.
func Register(mux *http.ServeMux, title, endpoint string) {
	files, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	static := http.StripPrefix("/graphiql/", http.FileServerFS(files))
	mux.Handle("GET /graphiql/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The files change with the binary: revalidate rather than cache blind.
		w.Header().Set("Cache-Control", "no-cache")
		static.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if !Built() {
			_, _ = io.WriteString(w, notBuilt)
			return
		}
		_ = page.Execute(w, struct {
			Title  string
			Config map[string]string
		}{title, map[string]string{"endpoint": endpoint}})
	})
}
