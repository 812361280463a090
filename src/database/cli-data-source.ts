import { DataSource } from 'typeorm';
import { loadConfig } from '../config/config';
import { dataSourceOptions } from './data-source-options';

/** Data source for the TypeORM CLI (`npm run migration:generate -- migrations/<Name>`); needs DATABASE_URL. */
const config = loadConfig(process.env);
if (!config.databaseUrl) throw new Error('migration:generate needs DATABASE_URL pointing at a migrated database');
export default new DataSource(dataSourceOptions(config.databaseUrl));
