# workerd config for the demo worker. Run it in place:
#   MEMDBG_MODE=leaky workerd serve config.capnp \
#     --socket-addr http=127.0.0.1:HTTPPORT --inspector-addr=127.0.0.1:PORT
# The inspector then lists one target per service: ws://127.0.0.1:PORT/memdbg-app
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "memdbg-app", worker = .appWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "memdbg-app") ],
);

const appWorker :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "worker.js") ],
  compatibilityDate = "2026-04-01",
  bindings = [ (name = "MODE", fromEnvironment = "MEMDBG_MODE") ],
);
