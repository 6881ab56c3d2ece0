"""The build's input: MovieLens CSV files read, checked and typed by `offline.data.loader`."""
