# apim-emu in a container: one image for the gateway and the mock backends.
# Build stage: the release binary from the workspace (Cargo.lock pinned).
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p apim-cli \
 && install -D -m 0755 target/release/apim-emu /out/apim-emu

# Run stage: glibc and CA certificates only, no shell, non-root user (uid 65532).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/apim-emu /usr/local/bin/apim-emu
USER nonroot:nonroot
EXPOSE 8080
# The gateway's health path; mocks override this in docker-compose.yml.
HEALTHCHECK --interval=5s --timeout=3s --retries=5 CMD ["/usr/local/bin/apim-emu", "health"]
ENTRYPOINT ["/usr/local/bin/apim-emu"]
# The demo: the seed failover with built-in mocks, reachable from the host.
CMD ["serve", "--listen", "0.0.0.0:8080"]
