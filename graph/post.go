package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// postTransport answers GraphQL over HTTP POST as gqlgen's transport.POST
// does (the same media types, statuses and error bodies), but for how it
// writes a result: gqlgen passes the whole response through json.Marshal,
// which validates and copies the data gqlgen has just encoded, byte by
// byte (8 % of the server's CPU on the inbox page, PERFORMANCE.md item 33).
// A response that is data alone is written as it is; anything else (errors,
// extensions) goes through json.Marshal as before.
type postTransport struct{}

var _ graphql.Transport = postTransport{}

// The response media types of the GraphQL over HTTP specification.
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

func (postTransport) Supports(r *http.Request) bool { return transport.POST{}.Supports(r) }

func (postTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	media := responseMedia(r.Header.Get("Accept"))
	w.Header().Set("Content-Type", media)
	start := graphql.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{gqlerror.Errorf("could not read request body: %+v", err)}))
		return
	}
	var params graphql.RawParams
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{gqlerror.Errorf("json request body could not be decoded: %+v body:%s", err, body)}))
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	rc, errs := exec.CreateOperationContext(ctx, &params)
	if errs != nil {
		w.WriteHeader(failedStatus(media, errs))
		writeResponse(w, exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs))
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, rc)
	writeResponse(w, responses(ctx))
}

// responseMedia picks the response's media type from the Accept header:
// application/json unless the client names only the GraphQL response type
// (or nothing this server writes), as gqlgen's POST transport does.
func responseMedia(accept string) string {
	if accept == "" {
		return mediaJSON
	}
	for part := range strings.SplitSeq(accept, ",") {
		t, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch t {
		case "*/*", "application/*", mediaJSON:
			return mediaJSON
		case mediaGraphQLResponse:
			return mediaGraphQLResponse
		}
	}
	return mediaGraphQLResponse
}

// failedStatus is the status of a document that could not be executed: a
// protocol error (parsing, validation) is 400 for the GraphQL response media
// type, 422 for application/json; other errors are 200 with errors.
func failedStatus(media string, errs gqlerror.List) int {
	if errcode.GetErrorKind(errs) != errcode.KindProtocol {
		return http.StatusOK
	}
	if media == mediaGraphQLResponse {
		return http.StatusBadRequest
	}
	return http.StatusUnprocessableEntity
}

// dataOpen and dataClose surround a response that is data alone.
var dataOpen, dataClose = []byte(`{"data":`), []byte(`}`)

// writeResponse writes resp in one write. A response with nothing but data
// is that data between dataOpen and dataClose: gqlgen encoded it, so it is
// JSON already.
func writeResponse(w io.Writer, resp *graphql.Response) {
	if resp != nil && len(resp.Errors) == 0 && len(resp.Extensions) == 0 && resp.Label == "" && resp.Path == nil && resp.HasNext == nil {
		data := resp.Data
		if len(data) == 0 {
			data = json.RawMessage("null")
		}
		out := make([]byte, 0, len(dataOpen)+len(data)+len(dataClose))
		out = append(append(append(out, dataOpen...), data...), dataClose...)
		_, _ = w.Write(out)
		return
	}
	b, err := json.Marshal(resp)
	if err != nil {
		// As gqlgen's transport does: a response that does not encode
		// is a bug, not the client's error.
		panic(fmt.Errorf("encoding a GraphQL response: %w", err))
	}
	_, _ = w.Write(b)
}
