{
  description = "Eventline: event sourcing and event streaming for TypeScript on Effect 4";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.nodejs_24
            pkgs.postgresql_15
            pkgs.jdk17_headless
            pkgs.maven
            pkgs.kcat
          ];
          shellHook = ''
            echo "eventline dev shell: node $(node --version), $(psql --version), java 17, maven, kcat"
            echo "  npm install && npm start    # the Order service on the embedded store"
            echo "  npm test                    # everything; PostgreSQL via DATABASE_URL, Kafka via scripts/kafka"
          '';
        };
      });
    };
}
