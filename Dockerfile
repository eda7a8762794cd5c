# Builds the artifact trust server as a static binary on a minimal base image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/server ./server

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/server /server
# Inside a container, loopback is unreachable from the host: listen on every
# interface of the container and let the port mapping decide who reaches it.
ENV LISTEN_ADDR=:8080
EXPOSE 8080
ENTRYPOINT ["/server"]
