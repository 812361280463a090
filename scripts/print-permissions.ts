import { permissionMatrixMarkdown } from '../src/access/permission-matrix';

// `npm run permissions`: the permission matrix, generated from the CASL definitions, as markdown.
process.stdout.write(permissionMatrixMarkdown());
