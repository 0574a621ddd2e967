//! `trrg`: the command-line tool (see the `trrg_cli` library).

fn main() {
    trrg_cli::main()
}
