module github.com/kioku-ml/kioku

go 1.26
