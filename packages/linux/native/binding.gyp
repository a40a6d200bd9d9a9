{
  "targets": [
    {
      "target_name": "podnet_tun",
      "sources": ["tun.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
