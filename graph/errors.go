package graph

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/privacy"
)

// Error codes carried in extensions.code.
const (
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeForbidden       = "FORBIDDEN"
	CodeNotFound        = "NOT_FOUND"
	CodeBadUserInput    = "BAD_USER_INPUT"
	CodeConflict        = "CONFLICT"
	CodeInternal        = "INTERNAL"
	CodePlatform        = "PLATFORM_ERROR"
	CodePrecondition    = "FAILED_PRECONDITION"
	CodeTooManyRequests = "TOO_MANY_REQUESTS"
	// CodeMethodNotAllowed is a mutation sent with GET.
	CodeMethodNotAllowed = "METHOD_NOT_ALLOWED"
)

// presentError is the one place that turns domain errors into GraphQL errors.
// Unknown errors become INTERNAL with a generic message; the detail goes to the log.
func presentError(ctx context.Context, err error) *gqlerror.Error {
	var gqlErr *gqlerror.Error
	if errors.As(err, &gqlErr) && gqlErr.Extensions["code"] != nil {
		if gqlErr.Extensions["code"] == "INVALID_PAGINATION" {
			return paginationError(gqlErr)
		}
		// Already classified (parse, validation, complexity, or by us).
		return gqlErr
	}
	out := graphql.DefaultErrorPresenter(ctx, err)
	var slow *apperr.ErrTooManyRequests
	if errors.As(err, &slow) {
		out.Message = slow.Error()
		out.Extensions = map[string]any{"code": CodeTooManyRequests, "retryAfter": slow.RetryAfterSeconds()}
		return out
	}
	code, msg, field := classify(err)
	if code == "" {
		if gqlErr != nil && gqlErr.Err == nil {
			// gqlgen's own errors (argument coercion, unknown enum values) are input errors.
			out.Extensions = map[string]any{"code": CodeBadUserInput}
			return out
		}
		if gqlErr != nil && len(gqlErr.Path) > 0 {
			// An argument's value that did not decode (a malformed cursor, a
			// time that does not parse): gqlgen puts it on the argument's
			// path. Resolvers' errors never come wrapped like this.
			if name, ok := gqlErr.Path[len(gqlErr.Path)-1].(ast.PathName); ok {
				out.Message = string(name) + ": " + gqlErr.Message
				out.Extensions = map[string]any{"code": CodeBadUserInput, "field": string(name)}
				return out
			}
		}
		slog.ErrorContext(ctx, "graphql internal error", "err", err, "path", out.Path.String())
		code, msg = CodeInternal, "internal server error"
	}
	out.Message = msg
	out.Extensions = map[string]any{"code": code}
	if field != "" {
		out.Extensions["field"] = field
	}
	return out
}

// paginationError turns entgql's INVALID_PAGINATION ("`first` on a
// connection cannot be less than zero.") into the one code clients handle
// for every argument they got wrong, naming the argument.
func paginationError(e *gqlerror.Error) *gqlerror.Error {
	out := *e
	out.Extensions = map[string]any{"code": CodeBadUserInput}
	if _, rest, ok := strings.Cut(e.Message, "`"); ok {
		if name, _, ok := strings.Cut(rest, "`"); ok {
			out.Extensions["field"] = name
		}
	}
	return &out
}

// classify maps an error to a code, a message for the user and, for input
// errors, the offending field. An empty code means "not ours to explain".
func classify(err error) (code, msg, field string) {
	var in *apperr.InputError
	if errors.As(err, &in) {
		code = CodeBadUserInput
		switch {
		case errors.Is(in.Kind, apperr.ErrConflict):
			code = CodeConflict
		case errors.Is(in.Kind, apperr.ErrNotFound):
			code = CodeNotFound
		}
		return code, in.Error(), in.Field
	}
	var ve *ent.ValidationError
	if errors.As(err, &ve) {
		f := camel(ve.Name)
		return CodeBadUserInput, f + ": " + validationMessage(ve), f
	}
	msg = ""
	var ae *apperr.Error
	if errors.As(err, &ae) {
		msg = ae.Msg
	}
	pick := func(kind error) string {
		if msg != "" {
			return msg
		}
		return kind.Error()
	}
	switch {
	case errors.Is(err, apperr.ErrUnauthenticated):
		return CodeUnauthenticated, pick(apperr.ErrUnauthenticated), ""
	case errors.Is(err, apperr.ErrNotFound):
		return CodeNotFound, pick(apperr.ErrNotFound), ""
	case errors.Is(err, apperr.ErrForbidden):
		return CodeForbidden, pick(apperr.ErrForbidden), ""
	case errors.Is(err, apperr.ErrConflict):
		return CodeConflict, pick(apperr.ErrConflict), ""
	case errors.Is(err, apperr.ErrUpstream):
		return CodePlatform, pick(apperr.ErrUpstream), ""
	case errors.Is(err, apperr.ErrFailedPrecondition):
		return CodePrecondition, pick(apperr.ErrFailedPrecondition), ""
	case ent.IsNotFound(err):
		return CodeNotFound, "not found", ""
	case ent.IsConstraintError(err):
		return CodeConflict, "conflicts with existing data", ""
	case errors.Is(err, privacy.Deny):
		return CodeForbidden, "forbidden", ""
	}
	return "", "", ""
}

func validationMessage(ve *ent.ValidationError) string {
	inner := errors.Unwrap(ve)
	if inner == nil {
		return "is invalid"
	}
	s := inner.Error()
	// ent's validators say `value is less than the required length`; keep the gist.
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// camel turns ent's snake_case field names into the GraphQL names clients use.
func camel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] == "id" {
			parts[i] = "ID"
			continue
		}
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}
