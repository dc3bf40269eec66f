fn main() {
    std::process::exit(redis_harden::main_with_args(std::env::args_os()));
}
