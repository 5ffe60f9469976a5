module github.com/wisp-dev/wisp

go 1.26.8
