/*
 * Hostile job module: imports a host function outside WASI (`env.system`), the only way a WebAssembly
 * module could ask its host to start a process. The sandbox must refuse to instantiate it.
 */
__attribute__((import_module("env"), import_name("system"))) extern int host_system(const char *command);

int main(void) { return host_system("sh -c 'touch /tmp/trickle-escaped'"); }
