module github.com/instant-social-trading/ist

go 1.26

require (
	github.com/HdrHistogram/hdrhistogram-go v1.1.2 // indirect
	github.com/tidwall/btree v1.8.2 // indirect
)
