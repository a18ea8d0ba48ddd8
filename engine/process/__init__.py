"""The engine process: spawned by engine.client, runs one model, streams units through rings."""
