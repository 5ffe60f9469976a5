// Command files stores files over HTTP in whatever wasmcloud:blobstore
// provider it is linked to, the way a wasmCloud actor uses a blobstore:
//
//	PUT    /files/<name>   stores the body
//	GET    /files/<name>   returns it (404 if missing)
//	DELETE /files/<name>   removes it
//	GET    /files          lists the names, one per line
//
//	wisp build ./examples/blobstore-fs/files --cap wasmcloud:httpserver --cap wasmcloud:blobstore
package main

import (
	"context"
	"strings"

	"github.com/wisp-dev/wisp/sdk/blobstore"
	"github.com/wisp-dev/wisp/sdk/httpserver"
)

// container holds every file.
const container = "files"

func init() {
	httpserver.Handle(handle)
}

func handle(ctx context.Context, r *httpserver.Request) (*httpserver.Response, error) {
	name, hasName := strings.CutPrefix(r.Path, "/files/")
	switch {
	case r.Path == "/files" && r.Method == "GET":
		names, err := blobstore.ListObjects(ctx, container)
		if err != nil {
			return httpserver.Text(502, err.Error()+"\n"), nil
		}
		if len(names) == 0 {
			return httpserver.Text(200, ""), nil
		}
		return httpserver.Text(200, strings.Join(names, "\n")+"\n"), nil
	case !hasName || name == "":
		return httpserver.Text(404, "try /files/<name>\n"), nil
	}
	switch r.Method {
	case "PUT", "POST":
		if err := blobstore.CreateContainer(ctx, container); err != nil {
			return httpserver.Text(502, err.Error()+"\n"), nil
		}
		if err := blobstore.PutObject(ctx, container, name, r.Body, "application/octet-stream"); err != nil {
			return httpserver.Text(502, err.Error()+"\n"), nil
		}
		return httpserver.Text(201, "stored "+name+"\n"), nil
	case "GET":
		data, ok, err := blobstore.GetObject(ctx, container, name)
		switch {
		case err != nil:
			return httpserver.Text(502, err.Error()+"\n"), nil
		case !ok:
			return httpserver.Text(404, "no file "+name+"\n"), nil
		}
		resp := httpserver.Text(200, "")
		resp.Body = data
		resp.Header["Content-Type"] = []string{"application/octet-stream"}
		return resp, nil
	case "DELETE":
		if err := blobstore.RemoveObjects(ctx, container, name); err != nil {
			return httpserver.Text(502, err.Error()+"\n"), nil
		}
		return httpserver.Text(200, "removed "+name+"\n"), nil
	}
	return httpserver.Text(405, "PUT, GET or DELETE\n"), nil
}

func main() {}
