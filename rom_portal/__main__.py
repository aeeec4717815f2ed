from rom_portal.cli import main

main(prog_name="rom-portal")
