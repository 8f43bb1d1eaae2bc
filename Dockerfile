# syntax=docker/dockerfile:1
# Switchboard as a static binary on a distroless base: no shell, no package
# manager, a non-root user. Build: docker build -t switchboard .
# Run: see deploy/compose.yaml and the README's "Deployment" section.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so a code change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
# graphiql/assets must be built first (scripts/graphiql.sh; make build and make test do it):
# the binary embeds what is there.
COPY . .
# CGO off: a static binary that runs on distroless/static. -trimpath keeps
# the build machine's paths out of stack traces.
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/switchboard .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/switchboard /switchboard
USER nonroot:nonroot
ENV ADDR=:8080
EXPOSE 8080
# The binary probes itself: the image has no shell or curl.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["/switchboard", "healthcheck"]
ENTRYPOINT ["/switchboard"]
