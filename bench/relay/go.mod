module zipflow/bench/relay

go 1.24
