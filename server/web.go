package main

import (
	"net/http"

	"github.com/sirupsen/logrus"

	"github.com/artifact-trust/control-plane/web"
)

// mountWeb serves the browser side from the binary (package web): the files
// under /assets/, the progression board at /board, and the GraphQL playground at
// / when the playground is on. Nothing a page loads comes from another host.
func mountWeb(mux *http.ServeMux, cfg Config, log *logrus.Logger) {
	pc := web.PageConfig{GraphQLPath: cfg.GraphQLPath}
	if cfg.DevelopmentSecret() {
		pc.TokenCommand = tokenCommandLine(cfg.DataDir)
	}
	mux.Handle("GET "+web.AssetsPrefix, web.Assets())
	mux.Handle("GET /board", pageOrError(log, "board", func() (http.Handler, error) { return web.Board(pc) }))
	if cfg.Playground {
		mux.Handle("GET /{$}", pageOrError(log, "playground", func() (http.Handler, error) { return web.Playground(pc) }))
	}
}

// pageOrError builds a page once; if it cannot be built (a broken template,
// which the web package's tests catch), the route answers 500 and the reason is
// logged instead of stopping the server.
func pageOrError(log *logrus.Logger, name string, build func() (http.Handler, error)) http.Handler {
	h, err := build()
	if err == nil {
		return h
	}
	log.WithError(err).WithField("page", name).Error("page unavailable")
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, name+" unavailable: see the server log", http.StatusInternalServerError)
	})
}
